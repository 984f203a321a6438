"""Results logging: a finished run's results also sent where teams already look (``logger=wandb``).

Off by default (``conf/logger/none.yaml``). ``checks`` runs in preflight (before data or model load), ``publish``
after every output of the run is on disk (rank 0), reading the run directory back (``payload``) and handing it to a
sink (``wandb_sink``). A failure there never loses a result: see ``publish``. ``errors`` is light to import (the
app catches its exception without loading anything).
"""
