def scan(items):
    i = 0
    while i < len(items):  # expect: len-in-loop-condition
        print(i)
        i += 1


class Walker:
    def walk(self):
        i = 0
        while i < self.config.limit:  # expect: attribute-chain-in-loop-condition
            i += 1


def draining(queue):
    while len(queue) > 0:
        queue.pop()


def growing(items):
    i = 0
    while i < len(items):
        if items[i] > 1:
            items.append(0)
        i += 1


def for_loop(items):
    for index in range(len(items)):
        print(index)
