SELECT conveyor_release(%(bucket)s, %(limit)s) AS woken
