"""Study ``correspondence``: units matched across networks, teacher specialization, mode connectivity after alignment."""

from redundancy.studies.entry import in_package

ENTRY = in_package(__name__, "correspondence", headline=('barrier', 'students_per_teacher_unit', 'teacher_units_covered'))
