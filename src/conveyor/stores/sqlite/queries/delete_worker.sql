DELETE FROM conveyor_workers WHERE id = :id OR last_seen < :forget_before
