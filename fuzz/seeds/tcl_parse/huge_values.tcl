format %2222222222s x
format %.2222222222f 1
set b [string repeat x 1000]; string map [list x $b] [string repeat x 1000]
