# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The data preparation's verdict: problems found in the data (exit status 1, all listed)."""
from typing import Sequence


class DataPreparationError(RuntimeError):
    """Problems that stop the preparation; ``problems`` lists every one (each names its file)."""

    def __init__(self, summary: str, problems: Sequence[str] = ()) -> None:
        self.summary = summary
        self.problems = list(problems)
        lines = [summary] + [f'  {p}' for p in self.problems]
        super().__init__('\n'.join(lines))
