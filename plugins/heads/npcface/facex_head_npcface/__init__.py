"""NPCFace head for FaceX (negative-positive collaborative margins, Zeng et al. 2020)."""
