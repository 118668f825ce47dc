SELECT queue FROM conveyor_paused
