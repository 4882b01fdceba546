"""Background fine-tuning jobs: each imports only the ones listed before it.

``store`` (job folders, typed job records) · ``outcome`` (how a job ended, in words) ·
``worker`` (the worker process) · ``schedule`` (fair queue order) · ``runner`` (the Runner
interface, local worker processes) · ``ray_task``, ``ray_cluster``, ``ray_runner`` (Ray tasks) ·
``runners`` (which runner) · ``manager`` (queue, limits, watching) · ``submit`` (starting a job).
"""
