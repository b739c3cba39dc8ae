-- Version 7 (both dialects): the chunk table of each blob, which lets a read check every
-- chunk it serves without re-hashing the whole blob: the CRC32 of each 1 MiB chunk, eight
-- lowercase hex digits per chunk, in order. NULL for blobs stored before this version until
-- scrub or their first read fills it in.
ALTER TABLE blobs ADD COLUMN crc32_1mib TEXT;
