"""The base of every scenario model: unknown keys are errors, defaults are validated too."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
