"""Replay recorded or dataset frames and score them: image sources, rosbag2 I/O, the
``frrn_seg_make_bag`` writer, and ``frrn_seg_replay_eval`` (engine in this process, or the real
node over DDS) with its report."""
