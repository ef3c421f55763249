"""The keys of a run config that decide what is generated (the rest of a config is the
history of its sessions: resumes, changes, empty ordinals). One tuple for the run config
(``runconfig``) and for the migration that recorded what older versions ran with."""

RUN_KEYS = ("generator", "model", "options", "strategy", "templates", "seed", "round")
RUN_KEYS += ("n_anchors", "n_docs")

__all__ = ["RUN_KEYS"]
