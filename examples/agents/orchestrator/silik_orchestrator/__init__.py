"""An agent kernel that plans work and carries it out across kernels of a silik tree."""
