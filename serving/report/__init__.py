"""``notecheck report``: compliance reports per creator and per brand, with template detection.

Public surface: :func:`add_report_command` (the argparse subcommand), :func:`build_report` with
:class:`ReportOptions` / :class:`ReportResult`, and :class:`TemplateParams`. Importing the package
is cheap (numpy, jieba and the rest load when :func:`build_report` is first reached), so that
``notecheck --help`` stays instant.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from serving.report.cli import add_report_command

if TYPE_CHECKING:
    from serving.report.build import ReportOptions, ReportResult, build_report
    from serving.report.templates import TemplateParams

__all__ = ["ReportOptions", "ReportResult", "TemplateParams", "add_report_command",
           "build_report"]

_LAZY = {"ReportOptions": "serving.report.build", "ReportResult": "serving.report.build",
         "build_report": "serving.report.build", "TemplateParams": "serving.report.templates"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'serving.report' has no attribute {name!r}")
