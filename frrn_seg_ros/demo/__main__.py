"""``python -m frrn_seg_ros.demo``: see :mod:`frrn_seg_ros.demo.run`."""

import sys

from .run import main

sys.exit(main())
