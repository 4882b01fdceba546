"""The Assignments widgets: the teacher's panel (teacher_view) and the student's view (student_view)."""
