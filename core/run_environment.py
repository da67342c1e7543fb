"""The reproducibility record of a run: which code, libraries, machine, threads, seeds,
determinism settings and data files produced its numbers. The worker fills it in when it
starts a run (``worker/environment.py``); the store keeps it with the experiment; the API,
``adamlab show``, the CSV of the curves and the final weights' metadata all carry it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Determinism(BaseModel):
    """What decides the run's random numbers and the order of its floating-point work."""

    model_config = ConfigDict(frozen=True)

    seed: int = Field(description="Seeds torch's global RNG before the model is built.")
    data_order: str = Field(description="How each epoch's order of examples is drawn.")
    data_seed: int | None = Field(None, description="The generated data set's seed, if any.")
    deterministic_algorithms: bool = Field(
        description="torch.are_deterministic_algorithms_enabled()."
    )
    cudnn_deterministic: bool | None = Field(description="torch.backends.cudnn.deterministic.")
    cudnn_benchmark: bool | None = Field(description="torch.backends.cudnn.benchmark.")


class RunEnvironment(BaseModel):
    """Everything besides the spec that a run's numbers depend on."""

    model_config = ConfigDict(frozen=True)

    adamlab_version: str
    git_commit: str | None = Field(description="The source's commit, when run from a checkout.")
    git_dirty: bool | None = Field(description="Whether that checkout had uncommitted changes.")
    python_version: str
    torch_version: str
    numpy_version: str
    platform: str = Field(description="Operating system and architecture.")
    device: str = Field(description="The device the run used, e.g. 'cpu', 'cuda:0'.")
    device_name: str = Field(description="The CPU model, or the GPU's name.")
    cuda_version: str | None = Field(description="The CUDA runtime torch was built with.")
    cudnn_version: int | None
    torch_threads: int = Field(description="torch.get_num_threads() (intra-op threads).")
    torch_interop_threads: int
    optimizer_kernels: str = Field(
        description="'C extension' when optim's CPU kernels are built, else why not."
    )
    determinism: Determinism
    data_files: dict[str, str] = Field(
        description="Each data file read and its md5; for a bundled or generated data set, "
        "where it comes from."
    )

    def summary_lines(self) -> list[str]:
        """``key: value`` lines, for a CSV's comment header and the command line."""
        flat = self.model_dump(mode="json", exclude={"determinism", "data_files"})
        lines = [f"{key}: {value}" for key, value in flat.items()]
        lines += [
            f"determinism.{key}: {value}"
            for key, value in self.determinism.model_dump(mode="json").items()
        ]
        lines += [f"data_files.{name}: {md5}" for name, md5 in self.data_files.items()]
        return lines
