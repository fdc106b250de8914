"""Command lines over the core that move model files in and out: ``frrn_seg_import`` (the authors'
weights -> a checkpoint), ``frrn_seg_export`` (checkpoint -> ONNX / TorchScript, with int8
quantization) and ``ament_layout`` (make a pip install findable by ``ros2 launch``). Each is a thin
argument parser over :mod:`frrn_seg_ros.core`; none needs ROS."""
