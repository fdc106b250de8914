"""``bash dev.sh demo`` / ``python -m frrn_seg_ros.demo``: synthetic scenes, a small trained model,
a camera bag, and the real node replaying it with a live view (:mod:`.run` is the entry point)."""
