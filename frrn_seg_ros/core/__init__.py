"""ROS-free core: labels, models, checkpoints and the inference engine (numpy + torch only)."""
