"""The one typed settings object of a process, read from the environment.

Every setting is an environment variable; the variable's name is given beside each
field. Import the instance: ``from core.settings import settings``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADAMLAB_", extra="ignore")

    state_dir: Path = Field(
        default=Path("var"),
        description="ADAMLAB_STATE_DIR: where the embedded default keeps its SQLite store, "
        "its private Redis and the checkpoints.",
    )
    data_dir: Path = Field(
        default=Path("var/datasets"),
        description="ADAMLAB_DATA_DIR: folder holding mnist/ and fashion-mnist/ (gzip IDX "
        "files); downloaded there when missing and the network allows.",
    )


settings = Settings()
