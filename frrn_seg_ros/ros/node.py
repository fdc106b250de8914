"""SegmentationNode: the plain (non-lifecycle) node; configured and running once constructed."""

from __future__ import annotations

from rclpy.node import Node

from .base import SegmentationMixin
from .parameters import declare_and_read


class SegmentationNode(SegmentationMixin, Node):
    """Semantic segmentation for the cameras in parameter ``cameras``.

    Raises :class:`~frrn_seg_ros.ros.parameters.ParameterError` for an invalid parameter and
    :class:`~frrn_seg_ros.core.checkpoint.CheckpointError` for a missing/corrupt checkpoint.
    ``engine`` lets a caller share an already built engine (tests, benchmarks); the model.*,
    device and precision parameters are then informational only.
    """

    def __init__(self, node_name: str = "segmentation", *, engine=None, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._init_state()
        try:
            self._setup(declare_and_read(self), engine)
        except BaseException:
            self._teardown()
            super().destroy_node()
            raise
        self._set_active(True)

    def destroy_node(self) -> None:
        """Stop the worker (no hang), then destroy the node."""
        self._teardown()
        super().destroy_node()
