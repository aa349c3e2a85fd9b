-- The orders biz_keys names for the keys {keys}, and whether a hop without an order id carries one:
-- what keyed_hop.sql reads in its query, asked first by a reader that runs one statement of a few
-- granules (the lookup), whose two subqueries cost more than this statement.
SELECT groupUniqArrayIf(OrderId, OrderId != '') AS orders, countIf(OrderId = '') > 0 AS orderless
FROM {db:Identifier}.biz_keys
WHERE Key IN {keys:Array(String)}
