"""Runs spread over the processes of `torchrun` (or Slurm's `srun` launching torchrun): which rank
this process is, the share of the work it takes, and the few collective steps between ranks.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them a process is a world of one and no
process group is started, so a plain `ccbench` run never touches torch.distributed. Work is split
by index (`World.owns`): every rank computes the same split from the same inputs, so ranks agree
on who does what without exchanging it, and a rerun with another world size splits the rest anew.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from tasks import TaskSpec

T = TypeVar("T")

PATIENCE = timedelta(hours=24)
"""How long a rank waits at a barrier for the others: ranks meet after their share of an image
set, and shares of ImageNet take hours on one GPU, longer than torch's default of 30 minutes. A
dead rank does not make the others wait this long: torchrun stops the whole world when one dies."""


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        """Rank 0 owns what only one writer may write: store attributes, the summary, the leaderboard."""
        return self.rank == 0

    def owns(self, index: int) -> bool:
        """Whether the item numbered `index` is this rank's (round robin, so shares stay even)."""
        return index % self.size == self.rank

    def share(self, items: Sequence[T]) -> list[T]:
        return [item for index, item in enumerate(items) if self.owns(index)]

    def device(self, device: str) -> str:
        """One GPU per rank: `cuda` becomes this rank's local GPU; any other name is kept."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.size > 1 else device


SOLO = World()


def from_env(env: Mapping[str, str] = os.environ) -> World:
    """The world torchrun describes in the environment; a world of one without it."""
    size = int(env.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SOLO
    return World(rank=int(env["RANK"]), size=size, local_rank=int(env.get("LOCAL_RANK", "0")))


def join(device: str) -> World:
    """This process's world, with the process group started once when it has several ranks:
    NCCL between GPUs, gloo on the CPU."""
    world = from_env()
    if world.size > 1 and not dist.is_initialized():
        gpu = device.startswith("cuda")
        if gpu:
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if gpu else "gloo", timeout=PATIENCE)
    return world


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def gather(world: World, value: T) -> list[T]:
    """Every rank's `value`, in rank order, on every rank (picklable values only)."""
    if world.size == 1:
        return [value]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, value)
    return out


def broadcast(world: World, value: T) -> T:
    """Rank 0's `value` on every rank."""
    if world.size == 1:
        return value
    box = [value if world.leader else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def units_of_work(tasks: Sequence[TaskSpec], lockstep: bool = False) -> list[list[TaskSpec]]:
    """The tasks as the units ranks take whole, in the given order: a task scored with another
    task's head joins that task's unit (it reads the head that task writes), so no two ranks
    score one task; every other task is a unit of its own. With `lockstep`, the image-level
    units are one, first (harness.evaluate.score_together trains them in one loop on one rank),
    and each dense task stays a unit of its own."""
    units: dict[str, list[TaskSpec]] = {}
    for task in tasks:
        units.setdefault(task.scored_with if task.scored_with in {t.id for t in tasks} else task.id, []).append(task)
    ordered = [sorted(unit, key=lambda t: t.scored_with is not None) for unit in units.values()]
    if not lockstep:
        return ordered
    together = [task for unit in ordered if not unit[0].dense for task in unit]
    return ([together] if together else []) + [unit for unit in ordered if unit[0].dense]
