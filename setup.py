"""ament_python setup: installs with colcon on a ROS 2 machine and with pip into a plain venv."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "frrn_seg_ros"
# The training/ folder installs under a project-specific import name: "training" alone is a name
# other projects use too, and would clash in a shared site-packages.
TRAINING = "frrn_seg_training"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[
        *find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
        TRAINING,
        *(f"{TRAINING}.{sub}" for sub in find_packages(where="training")),
    ],
    package_dir={TRAINING: "training"},
    package_data={TRAINING: ["recipes/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
    ],
    install_requires=[
        "setuptools", "numpy", "pyyaml", "pillow", "opencv-python-headless", "torch", "safetensors",
    ],
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="frrn_seg_ros maintainers",
    maintainer_email="maintainers@frrn-seg-ros.dev",
    description="FRRN and CSRNet semantic segmentation node for ROS 2, with the papers' training recipes.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "segment_node = frrn_seg_ros.ros.main:main",
            "segment_lifecycle_node = frrn_seg_ros.ros.main:lifecycle_main",
            "frrn_seg_demo = frrn_seg_ros.demo.run:main",
            "frrn_seg_bench_models = frrn_seg_ros.bench.models:main",
            "frrn_seg_bench_node = frrn_seg_ros.bench.node:main",
            "frrn_seg_bench_all = frrn_seg_ros.bench.deployment:main",
            "frrn_seg_replay_eval = frrn_seg_ros.replay.evaluate:main",
            "frrn_seg_make_bag = frrn_seg_ros.replay.make_bag:main",
            "frrn_seg_export = frrn_seg_ros.cli.export:main",
            "frrn_seg_import = frrn_seg_ros.cli.import_weights:main",
            "frrn_seg_train = frrn_seg_training.cli:main",
            "frrn_seg_synth = frrn_seg_training.synthetic:main",
        ],
    },
)
