DELETE FROM conveyor_paused WHERE queue = :queue
