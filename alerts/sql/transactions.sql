-- Transaction state per (process, key), derived from biz_hops at the moment it is asked.
-- The process definitions arrive as parameters ("process|stage" and "process|index" keyed
-- arrays), so a process or stage added to the YAML needs no code. Classification:
--   complete    the completion stage (or a later one) was reached
--   dead_letter a hop parked the message in a dead-letter queue, and no stage was reached after
--   failed      a hop ended in ERROR, and no stage was reached after (child spans do not count)
--   stuck       the next stage is overdue against its SLA at {now}
--   in_flight   otherwise
WITH
per_stage AS (
    SELECT
        Process AS process,
        transform(Process, {processes:Array(String)}, {process_keys:Array(String)}, '') AS key_attr,
        multiIf(key_attr = 'order.id', OrderId, key_attr = 'customer.id', CustomerId,
                key_attr = 'invoice.id', InvoiceId, key_attr = 'shipment.id', ShipmentId,
                key_attr = 'return.id', ReturnId, '') AS key,
        Stage AS stage,
        transform(concat(Process, '|', Stage), {stage_keys:Array(String)}, {stage_index:Array(UInt16)}, toUInt16(0)) AS idx,
        min(Timestamp) AS first_at,
        max(Timestamp) AS last_at,
        maxIf(Timestamp, StatusCode = 'Error' OR DeadLetter) AS trouble_at,
        argMaxIf(DeadLetter, Timestamp, StatusCode = 'Error' OR DeadLetter) AS trouble_dead_letter,
        argMaxIf(ErrorType, Timestamp, StatusCode = 'Error' OR DeadLetter) AS trouble_error,
        argMaxIf(SpanId, Timestamp, StatusCode = 'Error' OR DeadLetter) AS trouble_span,
        argMaxIf(System, Timestamp, StatusCode = 'Error' OR DeadLetter) AS trouble_system,
        maxIf(Timestamp, StatusCode != 'Error' AND NOT DeadLetter) AS ok_at,
        argMax(SpanId, Timestamp) AS last_span,
        argMax(System, Timestamp) AS last_system,
        argMin(System, Timestamp) AS first_system,
        any(Priority) AS priority,
        anyIf(Channel, Channel != '') AS channel,
        count() AS hops
    FROM {db:Identifier}.biz_hops
    WHERE Process IN {processes:Array(String)} AND Timestamp <= {now:DateTime64(9)}
    GROUP BY process, key_attr, key, stage, idx
    HAVING key != ''
),
per_transaction AS (
    SELECT
        process,
        key,
        min(first_at) AS tx_started_at,
        max(last_at) AS tx_last_at,
        max(idx) AS stage_index,
        argMax(stage, idx) AS current_stage,
        argMax(first_at, idx) AS current_stage_at,
        max(trouble_at) AS tx_trouble_at,
        argMax(trouble_dead_letter, trouble_at) AS tx_trouble_dead_letter,
        argMax(trouble_error, trouble_at) AS tx_trouble_error,
        argMax(trouble_span, trouble_at) AS tx_trouble_span,
        argMax(trouble_system, trouble_at) AS tx_trouble_system,
        argMax(stage, trouble_at) AS tx_trouble_stage,
        maxIf(ok_at, idx > 0) AS tx_progress_at,
        argMax(last_span, last_at) AS tx_last_span,
        argMax(stage, last_at) AS last_hop_stage,
        argMax(last_system, last_at) AS tx_last_system,
        argMin(first_system, first_at) AS tx_first_system,
        any(priority) AS tx_priority,
        any(channel) AS tx_channel,
        sum(hops) AS tx_hops,
        arraySort(x -> x.1, groupArrayIf((idx, stage, first_at), idx > 0)) AS reached,
        minIf(first_at, idx = transform(process, {processes:Array(String)}, {completion_index:Array(UInt16)},
                                        toUInt16(0))) AS tx_completed_at
    FROM per_stage
    GROUP BY process, key
),
classified AS (
    SELECT
        *,
        concat(process, '|', toString(stage_index + 1)) AS next_key,
        transform(process, {processes:Array(String)}, {completion_index:Array(UInt16)}, toUInt16(0)) AS completion_index,
        stage_index >= completion_index AND stage_index > 0 AS complete,
        tx_trouble_at > toDateTime64(0, 9) AND tx_trouble_at > tx_progress_at AS in_trouble,
        transform(next_key, {index_keys:Array(String)}, {index_stage:Array(String)}, '') AS next_stage,
        transform(next_key, {index_keys:Array(String)}, {index_system:Array(String)}, '') AS next_system,
        transform(concat(next_key, '|', tx_priority), {priority_keys:Array(String)}, {priority_sla_s:Array(Float64)},
            transform(concat(next_key, '|', tx_channel), {channel_keys:Array(String)}, {channel_sla_s:Array(Float64)},
                transform(next_key, {index_keys:Array(String)}, {index_sla_s:Array(Float64)}, toFloat64(0)))) AS next_sla_s,
        transform(next_key, {index_keys:Array(String)}, {index_since_start:Array(UInt8)}, toUInt8(0)) AS since_start,
        if(since_start, tx_started_at, current_stage_at) AS sla_from,
        if(next_sla_s > 0, sla_from + toIntervalMillisecond(toInt64(next_sla_s * 1000)), NULL) AS due_at
    FROM per_transaction
)
SELECT
    process,
    key,
    multiIf(complete, 'complete', in_trouble AND tx_trouble_dead_letter, 'dead_letter', in_trouble, 'failed',
            due_at IS NOT NULL AND due_at < {now:DateTime64(9)}, 'stuck', 'in_flight') AS state,
    current_stage,
    current_stage_at,
    next_stage,
    next_system,
    due_at,
    tx_started_at AS started_at,
    if(complete, tx_completed_at, NULL) AS completed_at,
    tx_last_at AS last_at,
    dateDiff('second', tx_started_at, {now:DateTime64(9)}) AS age_s,
    tx_first_system AS first_system,
    tx_last_system AS last_system,
    last_hop_stage,
    tx_last_span AS last_span,
    if(in_trouble, tx_trouble_at, NULL) AS trouble_at,
    if(in_trouble, tx_trouble_stage, '') AS trouble_stage,
    if(in_trouble, tx_trouble_system, '') AS trouble_system,
    if(in_trouble, tx_trouble_span, '') AS trouble_span,
    if(in_trouble, tx_trouble_error, '') AS error_type,
    tx_priority AS priority,
    tx_channel AS channel,
    tx_hops AS hops,
    arrayMap(x -> x.2, reached) AS stages_reached,
    arrayMap(x -> x.3, reached) AS stages_reached_at
FROM classified
WHERE ({keys:Array(String)} = [] OR has({keys:Array(String)}, key))
  AND ({states:Array(String)} = [] OR has({states:Array(String)}, state))
