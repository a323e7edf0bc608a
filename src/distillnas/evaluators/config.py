"""The `evaluator` section of a search config: a discriminated union of every evaluator's own section."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from .proxy import ProxyEvaluatorConfig
from .supernet import SupernetEvaluatorConfig
from .table import TableEvaluatorConfig
from .zerocost import ZeroCostEvaluatorConfig

# The `evaluator` section of a search config: one variant per evaluator, chosen by `name`.
EvaluatorConfig = Annotated[Union[ProxyEvaluatorConfig, TableEvaluatorConfig, SupernetEvaluatorConfig,
                                     ZeroCostEvaluatorConfig],
                            Field(discriminator="name")]
