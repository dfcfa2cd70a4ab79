"""A model plugin: a plain ``nn.Sequential`` MLP, adapted by redundancy (its Linear layers become fc1, fc2, ...)."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field
from torch import nn


class Options(BaseModel):
    """What a spec may set under ``model.options``."""

    model_config = {"extra": "forbid"}
    hidden: int = Field(32, ge=1, description="units of the hidden layer")


def build(request):
    """One hidden layer of ``options.hidden`` ReLU units (times the spec's ``model.width``)."""
    options = Options.model_validate(request.options or {})
    hidden = max(1, int(round(options.hidden * request.width)))
    inputs = math.prod(request.input_shape)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(inputs, hidden, bias=request.bias),
        nn.ReLU(),
        nn.Linear(hidden, request.num_classes, bias=request.bias),
    )


build.options = Options
