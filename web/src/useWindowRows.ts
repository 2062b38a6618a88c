import { observeWindowOffset, observeWindowRect, Virtualizer, windowScroll, type VirtualItem } from '@tanstack/virtual-core';
import type { RefObject } from 'preact';
import { useLayoutEffect, useReducer, useState } from 'preact/hooks';

/** A row's height before it is measured: one line of the overview's table is 32.5 px in Chromium. */
const ESTIMATED_ROW_PX = 33;
/** Rows rendered beyond each edge of the viewport, so a short scroll shows rows already there. */
const OVERSCAN = 15;

/** The rows of a long table body to render now, and the space the others take before and after them. */
export interface WindowRows {
  readonly items: readonly VirtualItem[];
  readonly before: number;
  readonly after: number;
  /** A rendered row's ref: its height is measured, so rows of any height keep the page's length right. */
  readonly measure: (row: HTMLTableRowElement | null) => void;
}

/**
 * Only the rows of `body` near the viewport, the page being what scrolls: with 1,000 apps a sort or a
 * filter key press laid out every row again, 250-600 ms on two shared cores (BENCHMARKS.md,
 * dashboard). TanStack Virtual's core, driven as its React adapter drives it (options on every
 * render, _willUpdate after each commit); `keyOf` keeps each row's measured height through a sort.
 */
export function useWindowRows(count: number, keyOf: (index: number) => string, body: RefObject<HTMLElement>): WindowRows {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  // Where the body starts in the page: the window's scroll offset is compared with it.
  const [scrollMargin, setScrollMargin] = useState(0);
  const options = {
    count,
    estimateSize: () => ESTIMATED_ROW_PX,
    getItemKey: keyOf,
    overscan: OVERSCAN,
    scrollMargin,
    getScrollElement: () => window,
    observeElementRect: observeWindowRect,
    observeElementOffset: observeWindowOffset,
    scrollToFn: windowScroll,
    initialRect: { width: innerWidth, height: innerHeight },
    initialOffset: () => scrollY,
    onChange: () => rerender(undefined),
    // Heights from the ResizeObserver's entries only. The default also reads each row's box as its ref
    // is set, mid-commit, which lays the page out again for every row rendered (most of a sort's time).
    measureElement: (row: HTMLTableRowElement, entry: ResizeObserverEntry | undefined, v: Virtualizer<Window, HTMLTableRowElement>) => {
      const box = entry?.borderBoxSize[0];
      return box ? Math.round(box.blockSize) : (v.itemSizeCache.get(v.options.getItemKey(v.indexFromElement(row))) ?? ESTIMATED_ROW_PX);
    },
  };
  const [virtualizer] = useState(() => new Virtualizer<Window, HTMLTableRowElement>(options));
  virtualizer.setOptions(options);
  useLayoutEffect(() => virtualizer._didMount(), [virtualizer]);
  useLayoutEffect(() => {
    virtualizer._willUpdate();
    const top = body.current ? body.current.getBoundingClientRect().top + scrollY : 0;
    if (Math.abs(top - scrollMargin) >= 1) setScrollMargin(top);
  });

  const items = virtualizer.getVirtualItems();
  const last = items.at(-1);
  return {
    items,
    before: items.length > 0 ? items[0]!.start - scrollMargin : 0,
    after: last ? virtualizer.getTotalSize() - (last.end - scrollMargin) : 0,
    measure: virtualizer.measureElement,
  };
}
