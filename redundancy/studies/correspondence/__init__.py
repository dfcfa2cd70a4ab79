"""Study ``correspondence``: units matched across networks, teacher specialization, mode connectivity after alignment."""
