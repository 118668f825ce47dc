SELECT conveyor_admit(
    %(id)s, %(attempt)s, %(rate)s, %(interval)s, %(bucket)s, %(limit)s, %(park)s, %(admit_wait)s
) AS wait
