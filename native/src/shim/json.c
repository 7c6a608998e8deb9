/*
 * A small JSON reader for the shim's own inputs (config.json, exec configs, attach headers). It
 * builds a tree of malloc'd nodes that are never freed: the inputs are a few kilobytes, read once.
 * Depth is capped so hostile input cannot exhaust the stack.
 */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kMaxDepth = 64 };

typedef struct {
  const char *start;
  const char *p;
  const char *end;
  char *error;
  size_t error_size;
  int depth;
} parser_t;

static jnode_t *parse_value(parser_t *ps);

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) _exit(70);
  return p;
}

static jnode_t *parse_error(parser_t *ps, const char *what) {
  if (ps->error && ps->error[0] == '\0') {
    snprintf(ps->error, ps->error_size, "%s at offset %ld", what, (long)(ps->p - ps->start));
  }
  return NULL;
}

static void skip_space(parser_t *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_hex4(parser_t *ps, uint32_t *out) {
  if (ps->end - ps->p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hex_value(ps->p[i]);
    if (h < 0) return false;
    v = (v << 4) | (uint32_t)h;
  }
  ps->p += 4;
  *out = v;
  return true;
}

static void put_utf8(buf_t *b, uint32_t cp) {
  char out[4];
  size_t n;
  if (cp < 0x80) {
    out[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  buf_append(b, out, n);
}

/* Parses a string literal (the opening quote already consumed) into a NUL-terminated copy. */
static char *parse_string_body(parser_t *ps) {
  buf_t b = {0};
  buf_append(&b, "", 0);
  while (ps->p < ps->end) {
    char c = *ps->p++;
    if (c == '"') return b.data;
    if ((unsigned char)c < 0x20) break;
    if (c != '\\') {
      buf_append(&b, &c, 1);
      continue;
    }
    if (ps->p >= ps->end) break;
    char e = *ps->p++;
    switch (e) {
      case '"': buf_append(&b, "\"", 1); break;
      case '\\': buf_append(&b, "\\", 1); break;
      case '/': buf_append(&b, "/", 1); break;
      case 'b': buf_append(&b, "\b", 1); break;
      case 'f': buf_append(&b, "\f", 1); break;
      case 'n': buf_append(&b, "\n", 1); break;
      case 'r': buf_append(&b, "\r", 1); break;
      case 't': buf_append(&b, "\t", 1); break;
      case 'u': {
        uint32_t cp;
        if (!read_hex4(ps, &cp)) goto bad;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          uint32_t low;
          if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') goto bad;
          ps->p += 2;
          if (!read_hex4(ps, &low) || low < 0xdc00 || low > 0xdfff) goto bad;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          goto bad;
        }
        /* A NUL inside a path or argument would silently truncate it in C: refuse it. */
        if (cp == 0) goto bad;
        put_utf8(&b, cp);
        break;
      }
      default:
        goto bad;
    }
  }
bad:
  buf_free(&b);
  return NULL;
}

static jnode_t *parse_array(parser_t *ps) {
  jnode_t *node = xcalloc(1, sizeof(*node));
  node->type = J_ARRAY;
  size_t cap = 0;
  skip_space(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    return node;
  }
  for (;;) {
    jnode_t *item = parse_value(ps);
    if (!item) return NULL;
    if (node->count == cap) {
      cap = cap ? cap * 2 : 8;
      node->items = realloc(node->items, cap * sizeof(*node->items));
      if (!node->items) _exit(70);
    }
    node->items[node->count++] = item;
    skip_space(ps);
    if (ps->p >= ps->end) return parse_error(ps, "unterminated array");
    char c = *ps->p++;
    if (c == ']') return node;
    if (c != ',') return parse_error(ps, "expected ',' or ']'");
  }
}

static jnode_t *parse_object(parser_t *ps) {
  jnode_t *node = xcalloc(1, sizeof(*node));
  node->type = J_OBJECT;
  size_t cap = 0;
  skip_space(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    return node;
  }
  for (;;) {
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '"') return parse_error(ps, "expected a member name");
    ps->p++;
    char *key = parse_string_body(ps);
    if (!key) return parse_error(ps, "invalid string");
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != ':') return parse_error(ps, "expected ':'");
    ps->p++;
    jnode_t *value = parse_value(ps);
    if (!value) return NULL;
    if (node->count == cap) {
      cap = cap ? cap * 2 : 8;
      node->items = realloc(node->items, cap * sizeof(*node->items));
      node->keys = realloc(node->keys, cap * sizeof(*node->keys));
      if (!node->items || !node->keys) _exit(70);
    }
    node->keys[node->count] = key;
    node->items[node->count++] = value;
    skip_space(ps);
    if (ps->p >= ps->end) return parse_error(ps, "unterminated object");
    char c = *ps->p++;
    if (c == '}') return node;
    if (c != ',') return parse_error(ps, "expected ',' or '}'");
  }
}

static jnode_t *parse_number(parser_t *ps) {
  const char *start = ps->p;
  if (ps->p < ps->end && *ps->p == '-') ps->p++;
  while (ps->p < ps->end && ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '.' || *ps->p == 'e' || *ps->p == 'E' ||
                              *ps->p == '+' || *ps->p == '-')) {
    ps->p++;
  }
  char text[64];
  size_t n = (size_t)(ps->p - start);
  if (n == 0 || n >= sizeof(text)) return parse_error(ps, "invalid number");
  memcpy(text, start, n);
  text[n] = '\0';
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (*end != '\0' || errno == ERANGE) return parse_error(ps, "invalid number");
  jnode_t *node = xcalloc(1, sizeof(*node));
  node->type = J_NUMBER;
  node->number = v;
  return node;
}

static bool match_literal(parser_t *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
  ps->p += n;
  return true;
}

static jnode_t *parse_value(parser_t *ps) {
  skip_space(ps);
  if (ps->p >= ps->end) return parse_error(ps, "unexpected end of input");
  if (++ps->depth > kMaxDepth) return parse_error(ps, "nested too deeply");
  jnode_t *node = NULL;
  char c = *ps->p;
  if (c == '{') {
    ps->p++;
    node = parse_object(ps);
  } else if (c == '[') {
    ps->p++;
    node = parse_array(ps);
  } else if (c == '"') {
    ps->p++;
    char *s = parse_string_body(ps);
    if (!s) return parse_error(ps, "invalid string");
    node = xcalloc(1, sizeof(*node));
    node->type = J_STRING;
    node->string = s;
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    node = parse_number(ps);
  } else if (match_literal(ps, "true") || match_literal(ps, "false")) {
    node = xcalloc(1, sizeof(*node));
    node->type = J_BOOL;
    node->boolean = ps->p[-1] == 'e' && ps->p[-2] == 'u';
  } else if (match_literal(ps, "null")) {
    node = xcalloc(1, sizeof(*node));
    node->type = J_NULL;
  } else {
    return parse_error(ps, "unexpected character");
  }
  ps->depth--;
  return node;
}

jnode_t *json_parse(const char *text, size_t len, char *error, size_t error_size) {
  if (error && error_size) error[0] = '\0';
  parser_t ps = {.start = text, .p = text, .end = text + len, .error = error, .error_size = error_size, .depth = 0};
  jnode_t *root = parse_value(&ps);
  if (!root) {
    if (error && error_size && error[0] == '\0') snprintf(error, error_size, "malformed JSON");
    return NULL;
  }
  skip_space(&ps);
  if (ps.p != ps.end) {
    if (error) snprintf(error, error_size, "trailing characters at offset %ld", (long)(ps.p - text));
    return NULL;
  }
  return root;
}

const jnode_t *json_get(const jnode_t *object, const char *key) {
  if (!object || object->type != J_OBJECT) return NULL;
  for (size_t i = 0; i < object->count; i++) {
    if (strcmp(object->keys[i], key) == 0) return object->items[i];
  }
  return NULL;
}
