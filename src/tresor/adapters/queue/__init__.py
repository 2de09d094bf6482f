"""Where sync jobs wait for a worker (``JobQueue``) and which process does a periodic chore
(``PeriodicGate``): in process for the embedded default, on Redis for the distributed mode."""
