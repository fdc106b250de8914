"""frrn_seg_ros: FRRN and CSRNet semantic segmentation for ROS 2.

This package root imports nothing heavy: ``import frrn_seg_ros.core`` never pulls in rclpy,
and only ``frrn_seg_ros.ros`` talks to ROS.
"""

__version__ = "0.1.0"
