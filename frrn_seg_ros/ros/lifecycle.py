"""SegmentationLifecycleNode: the managed variant.

configure: read and validate parameters, load the model, create topics (FAILURE, staying
unconfigured, on a bad parameter or a missing/corrupt checkpoint); activate/deactivate: start
and pause processing; cleanup/shutdown: destroy everything and release the model. Model-defining
parameters (checkpoint, device, precision, cameras, ...) can be set while unconfigured, so a
failed configure is fixed by setting the value and configuring again; while configured they are
refused, as on the plain node.
"""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from .base import SegmentationMixin
from .parameters import declare_and_read


class SegmentationLifecycleNode(SegmentationMixin, LifecycleNode):
    """Lifecycle segmentation node; same parameters, topics and services as SegmentationNode."""

    def __init__(self, node_name: str = "segmentation", *, engine=None, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._init_state()
        self._given_engine = engine
        self.last_error = ""

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._setup(declare_and_read(self, allow_read_only=False), self._given_engine)
        except Exception as exc:
            self.last_error = str(exc)
            self.get_logger().error(f"configure failed: {exc}")
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._set_active(True)
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._set_active(False)
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._set_active(False)
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._set_active(False)
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self._teardown()
        super().destroy_node()
