export function expensiveTotals(orders) {
  return orders.map((order) => order.price * order.quantity).filter((total) => total > 100);
}
