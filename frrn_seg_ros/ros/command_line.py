"""Check the ROS command line before ``rclpy.init`` so a mistake ends in one line naming it.

``rclpy.init`` reports a params file that is missing, not YAML or not a mapping, and a
``-p name:=`` without a value, as an ``RCLError`` whose text is buried in a traceback;
:func:`ros_args_problem` finds those first and :func:`rcl_error_line` shortens what is left.
"""

from __future__ import annotations

import os
import re

_PARAMS_FILE = ("--params-file",)
_PARAM = ("-p", "--param")


def _ros_tokens(args: list[str]) -> list[str]:
    """The tokens inside ``--ros-args ... [--]`` sections of ``args``."""
    tokens, inside = [], False
    for arg in args:
        if arg == "--ros-args":
            inside = True
        elif arg == "--":
            inside = False
        elif inside:
            tokens.append(arg)
    return tokens


def params_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be a ROS params file (missing, not a file, not YAML, not a mapping)."""
    import yaml

    if not os.path.exists(path):
        return f"params file '{path}' does not exist"
    if not os.path.isfile(path):
        return f"params file '{path}' is not a regular file"
    try:
        with open(path, encoding="utf-8") as stream:
            tree = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError) as exc:
        return f"params file '{path}' cannot be read: {exc}"
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        return f"params file '{path}' is not valid YAML{line}: {getattr(exc, 'problem', exc)}"
    if tree is not None and not isinstance(tree, dict):
        return (
            f"params file '{path}' holds a YAML {type(tree).__name__}; expected a mapping "
            "'<node name or /**>: {ros__parameters: {...}}'"
        )
    return None


def param_override_problem(rule: str) -> str | None:
    """Why ``rule`` (the text after ``-p``) is not a ``name:=value`` parameter override."""
    import yaml

    name, sep, value = rule.partition(":=")
    if not sep or not name:
        return f"parameter override '{rule}' is not of the form name:=value"
    if value == "":
        return (
            f"parameter '{name}' has no value ('-p {rule}'); for an empty string type "
            f"-p \"{name}:=''\" (quotes included)"
        )
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return f"parameter '{name}': value {value!r} is not valid YAML"
    if parsed == []:  # rcl cannot type it: ignored, or 'not initialized'
        return f"parameter '{name}' is an empty list ({name}:=[]): ROS cannot pass one; give an item"
    return None


def ros_args_problem(args: list[str]) -> str | None:
    """The first problem of the ``--ros-args`` part of ``args`` that rcl would refuse, or None."""
    tokens = _ros_tokens(args)
    for flag, value in zip(tokens, [*tokens[1:], None], strict=True):
        if flag in _PARAMS_FILE:
            if value is None:
                return "--params-file needs a file name"
            problem = params_file_problem(value)
        elif flag in _PARAM:
            if value is None:
                return f"{flag} needs name:=value"
            problem = param_override_problem(value)
        else:
            continue
        if problem:
            return problem
    return None


def rcl_error_line(exc: BaseException) -> str:
    """The message of an rcl error on one line, without rcl's source locations."""
    text = " ".join(str(exc).split())
    return re.sub(r",? at /\S+:\d+", "", text).strip()
