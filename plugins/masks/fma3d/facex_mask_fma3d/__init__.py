"""FaceX's FMA-3D mask adder: UV-space mask templates rendered onto a 3D face mesh (MediaPipe FaceMesh)."""
