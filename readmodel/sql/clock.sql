-- SLA clocks in business time (readmodel/calendars.py documents the arrays and the method).
-- Each section below, `-- @name` to the next, is an expression; a query names a clock as a macro
-- (${business_ms:cal,t}, ${business_start_ms:cal,t}, ${business_due:cal,b}: calendars.expand) and
-- gets the section of that name with every $name filled in with its section, $cal with the
-- calendar number (1-based) and $arg with the instant (DateTime64) or the business ms (Int64).
-- The per-day arrays (flat: every calendar's days in a row, from its cal_first) and the per-calendar
-- offsets and sizes (indexed by calendar number) are query parameters. A value used more than once
-- is bound once by a lambda over a one-element array (arrayMap(x -> ..., [value])[1]): spelled out,
-- the expression grows with every use, and ClickHouse computes it as often.

-- @business_ms  business milliseconds of calendar $cal up to the instant $arg
arrayMap((clock_tm, clock_i) -> $cum[clock_i] + least(greatest(clock_tm - $open[clock_i], 0), $len[clock_i]),
         [$tm], [$i])[1]

-- @business_start_ms  the same for a clock started at $arg: at or after its day's cut-off (or on a
-- closed day), at the next working day's opening
arrayMap((clock_tm, clock_i) -> $cum[clock_i] + if(clock_tm >= $cut[clock_i], $len[clock_i],
                                                   least(greatest(clock_tm - $open[clock_i], 0), $len[clock_i])),
         [$tm], [$i])[1]

-- @business_due  the instant (DateTime64(9)) where the business milliseconds reach $arg: on the working
-- day holding the start of $arg's quantum (clock_d0), or on the next working day (clock_j: an array position)
arrayMap(clock_b -> arrayMap(clock_d0 -> arrayMap(
        clock_j -> fromUnixTimestamp64Nano(least($open[clock_j] + (clock_b - $cum[clock_j]), 4102444800000) * 1000000),
        [$first + if(clock_b <= $cum[$first + clock_d0 + 1] + $len[$first + clock_d0 + 1], clock_d0,
                     $next[$first + clock_d0 + 1]) + 1])[1],
    [$inv[$inv_first + least(intDivOrZero(clock_b, $quantum), $inv_count - 1) + 1]])[1],
    [greatest(toInt64($arg), 0)])[1]

-- @i  the local day of the instant $arg (an array position): its 24-hour window (from local noon of the
-- first day), plus one once past the window's midnight
arrayMap((clock_t, clock_w) -> $first + least(clock_w + (clock_t >= $mid[$first + clock_w + 1]), $days - 1) + 1,
         [$tm], [toInt64(least(intDiv(greatest($tm - {cal_anchor_ms:Array(Int64)}[$cal], 0), 86400000), $days - 1))])[1]

-- @tm
toUnixTimestamp64Milli($arg)

-- @first
{cal_first:Array(Int64)}[$cal]

-- @days
{cal_days:Array(Int64)}[$cal]

-- @quantum
{cal_quantum_ms:Array(Int64)}[$cal]

-- @inv_first
{cal_inv_first:Array(Int64)}[$cal]

-- @inv_count
{cal_inv_count:Array(Int64)}[$cal]

-- @mid
(SELECT {cal_mid_ms:Array(Int64)})

-- @cum
(SELECT {cal_cum_ms:Array(Int64)})

-- @open
(SELECT {cal_open_ms:Array(Int64)})

-- @len
(SELECT {cal_len_ms:Array(Int64)})

-- @cut
(SELECT {cal_cut_ms:Array(Int64)})

-- @next
(SELECT {cal_next_day:Array(Int64)})

-- @inv
(SELECT {cal_inv:Array(Int64)})
