interface Order {
  total: number;
  paid: boolean;
}

export function totals(batches: Order[][]): number[][] {
  const out: number[][] = [];
  for (const batch of batches) {
    out.push(batch.map((order) => order.total).filter((total) => total > 0)); // expect: chained-map-filter
  }
  return out;
}

export function topLevel(orders: Order[]): number[] {
  return orders.filter((order) => order.paid).map((order) => order.total);
}

export function three(batches: Order[][]): string[][] {
  return batches.map((batch) =>
    batch // expect: chained-map-filter
      .filter((order) => order.paid)
      .map((order) => order.total)
      .map((total) => total.toFixed(2)),
  );
}

export class Cart {
  items: Order[] = [];

  sum(): number {
    let total = 0;
    for (let i = 0; i < this.items.length; i++) { // expect: len-in-loop-condition
      total += Math.round(this.items[i].total);
    }
    return total;
  }

  drain(): void {
    for (let i = 0; i < this.items.length; i++) {
      this.process(i);
    }
  }

  local(items: Order[]): number {
    let total = 0;
    for (let i = 0; i < items.length; i++) {
      total += Math.round(items[i].total);
    }
    return total;
  }

  process(index: number): void {
    this.items.splice(index, 1);
  }
}
