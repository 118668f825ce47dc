LISTEN conveyor
