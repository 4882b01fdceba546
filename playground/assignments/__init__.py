"""Assignments: a teacher's challenge (criteria on a design), students' checked submissions, the class's progress.

``model`` (the file format), ``check`` (criteria against ``analyze``), ``db`` (SQLite storage),
``progress`` (the teacher's table, CSV, leaderboard), ``presets`` (from the primer's practice questions).
"""
from playground.assignments.check import CheckResult, CriterionResult, check
from playground.assignments.model import Assignment, AssignmentError, Criterion, load_assignment, parse_assignment

__all__ = ["Assignment", "AssignmentError", "Criterion", "CheckResult", "CriterionResult", "check", "load_assignment",
           "parse_assignment"]
