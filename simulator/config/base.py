"""The base of every scenario model: unknown keys are errors, defaults are validated too, and
no number may be infinite or NaN (``.inf``, ``.nan`` and ``1e400`` are refused with the field
path, instead of running into NaN positions or a traceback)."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False,
    )
