"""Knowledge distillation for FaceX: a frozen teacher checkpoint, any student, several distillation terms."""
