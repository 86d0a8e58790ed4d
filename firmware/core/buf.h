/*
 * buf.h — bounded reader and writer over caller-owned bytes.
 *
 * Conventions: neither struct owns its memory; the caller keeps the bytes
 * alive for the cursor's lifetime. Every getter checks what remains before it
 * touches memory and returns STI_EPROTO_FRAME (reader) or STI_ETOOLONG
 * (writer) without moving the cursor when it would overrun. Integers are
 * big-endian and are assembled byte by byte, so alignment never matters.
 * Not thread-safe; a cursor belongs to one caller at a time.
 */
#ifndef STI_BUF_H
#define STI_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
};

struct buf_wr {
    uint8_t *p;
    size_t cap;
    size_t off;
};

void buf_rd_init(struct buf_rd *r, const void *p, size_t len);
size_t buf_rd_left(const struct buf_rd *r);
int buf_rd_u8(struct buf_rd *r, uint8_t *v);
int buf_rd_u16(struct buf_rd *r, uint16_t *v);
int buf_rd_u32(struct buf_rd *r, uint32_t *v);
int buf_rd_u64(struct buf_rd *r, uint64_t *v);
/* Point *v at the next n bytes (no copy) and advance. */
int buf_rd_bytes(struct buf_rd *r, size_t n, const uint8_t **v);
/* Carve the next n bytes into a sub-reader and advance past them. */
int buf_rd_sub(struct buf_rd *r, size_t n, struct buf_rd *sub);
/* STI_OK only when every byte was consumed, else STI_EPROTO_FRAME. */
int buf_rd_done(const struct buf_rd *r);

void buf_wr_init(struct buf_wr *w, void *p, size_t cap);
int buf_wr_u8(struct buf_wr *w, uint8_t v);
int buf_wr_u16(struct buf_wr *w, uint16_t v);
int buf_wr_u32(struct buf_wr *w, uint32_t v);
int buf_wr_u64(struct buf_wr *w, uint64_t v);
int buf_wr_bytes(struct buf_wr *w, const void *v, size_t n);
/* Reserve n bytes to be filled later; *slot receives their offset. */
int buf_wr_reserve(struct buf_wr *w, size_t n, size_t *slot);
/* Fill a reserved big-endian u16/u32 at offset slot. */
void buf_wr_put_u16_at(struct buf_wr *w, size_t slot, uint16_t v);
void buf_wr_put_u32_at(struct buf_wr *w, size_t slot, uint32_t v);

/* Plain big-endian helpers for fixed headers. */
uint16_t buf_get_u16(const uint8_t *p);
uint32_t buf_get_u32(const uint8_t *p);
void buf_put_u16(uint8_t *p, uint16_t v);
void buf_put_u32(uint8_t *p, uint32_t v);

#endif
