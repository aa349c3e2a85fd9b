-- The variants of one object type (order, shipment or return) in [{since}, {until}): for each object
-- of that type, the sequence of stages its hops reached, oldest first (a stage repeated in a row,
-- e.g. a redelivered message, counted once); then each distinct sequence with how many objects
-- followed it, most frequent first, the {top} first listed and the rest summed into one "other"
-- row (listed = 0) that says how many variants it holds.
-- Hops are read through business_hops (mapped spans included). A hop belongs to the object whose
-- key it carries (a shipment.confirmed hop with only shipment.id is its shipment's); a hop that
-- does not carry it but is placed in a process keyed by that type belongs to the key it was resolved
-- to (BizKey), so an order's path holds its shipment's hops that name only the shipment.
SELECT
    listed,
    shown AS stages,
    sum(followed) AS objects,
    sum(followed) / any(total) AS share,
    count() AS variants
FROM (
    SELECT
        row_number() OVER (ORDER BY followed DESC, stages) <= {top:UInt32} AS listed,
        if(listed, stages, []) AS shown,
        followed,
        sum(followed) OVER () AS total
    FROM (
        SELECT stages, count() AS followed
        FROM (
            SELECT
                object,
                arrayMap(h -> h.2, arraySort(groupArray((Timestamp, stage_name)))) AS reached,
                arrayFilter((s, i) -> i = 1 OR s != reached[i - 1], reached, arrayEnumerate(reached)) AS stages
            FROM (
                SELECT
                    Timestamp,
                    toString(Stage) AS stage_name,
                    multiIf({kind:String} = 'order', OrderId, {kind:String} = 'shipment', ShipmentId,
                            {kind:String} = 'return', ReturnId, '') AS own,
                    if(own != '', own,
                       if(transform(BizProcess, {object_processes:Array(String)}, {object_process_kinds:Array(String)}, '')
                              = {kind:String}, BizKey, '')) AS object
                FROM ${business_hops}
                WHERE Stage != '' AND Timestamp >= {since:DateTime64(9)} AND Timestamp < {until:DateTime64(9)}
            )
            WHERE object != ''
            GROUP BY object
        )
        GROUP BY stages
    )
)
GROUP BY listed, shown
ORDER BY listed DESC, objects DESC, stages
