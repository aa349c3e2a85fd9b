-- The keys of {keys}'s tree in the key graph (biz_links): each key, its parents up to two steps
-- (invoice -> shipment -> order; return -> order), and everything below those roots up to three
-- steps (customer -> order -> shipment -> invoice). {link_up} lists (child kind, parent kind).
-- A customer is never a way up: an order's tree holds its customer's id for display (on its hops)
-- but not the customer's other orders; a lookup by customer is the trees of the customer's orders.
-- Each step is one read of biz_links by its primary key, evaluated once (scalar subqueries; each
-- array is read back through IN (SELECT arrayJoin(...)), a hash set, never has() on a long array).
WITH
    {keys:Array(String)} AS tree_start,
    (SELECT groupUniqArray(Linked) FROM ${links}
     WHERE Key IN (SELECT arrayJoin(tree_start)) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
       AND LinkedKind != 'customer') AS tree_up1,
    (SELECT groupUniqArray(Linked) FROM ${links}
     WHERE Key IN (SELECT arrayJoin(tree_up1)) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
       AND LinkedKind != 'customer') AS tree_up2,
    arrayDistinct(arrayConcat(tree_start, tree_up1, tree_up2)) AS tree_roots,
    (SELECT groupUniqArray(Linked) FROM ${links}
     WHERE Key IN (SELECT arrayJoin(tree_roots)) AND (LinkedKind, KeyKind) IN {link_up:Array(Tuple(String, String))}) AS tree_down1,
    (SELECT groupUniqArray(Linked) FROM ${links}
     WHERE Key IN (SELECT arrayJoin(tree_down1)) AND (LinkedKind, KeyKind) IN {link_up:Array(Tuple(String, String))}) AS tree_down2,
    (SELECT groupUniqArray(Linked) FROM ${links}
     WHERE Key IN (SELECT arrayJoin(tree_down2)) AND (LinkedKind, KeyKind) IN {link_up:Array(Tuple(String, String))}) AS tree_down3
SELECT arrayJoin(arrayDistinct(arrayConcat(tree_roots, tree_down1, tree_down2, tree_down3))) AS Key
