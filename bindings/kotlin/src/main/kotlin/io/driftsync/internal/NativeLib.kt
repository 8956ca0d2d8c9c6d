package io.driftsync.internal

import com.sun.jna.Callback
import com.sun.jna.Library
import com.sun.jna.Pointer
import com.sun.jna.ptr.ByteByReference
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.LongByReference
import com.sun.jna.ptr.PointerByReference

/** `driftsync_observer_fn`. */
fun interface ObserverFn : Callback {
    fun invoke(userData: Pointer?, changes: Pointer?)
}

/** `driftsync_user_data_free_fn`. */
fun interface UserDataFreeFn : Callback {
    fun invoke(userData: Pointer?)
}

/**
 * The foundation part of the C ABI (include/driftsync.h), mapped one to one. `bool` is mapped as
 * a byte, `size_t` as [SizeT], handles as [Pointer], and every `driftsync_error_t **` as a
 * [PointerByReference]. Sync-session and client-reset functions live in [SyncLib].
 */
@Suppress("FunctionName", "LocalVariableName")
interface NativeLib : Library {
    fun driftsync_version(): String
    fun driftsync_abi_version(): Int
    fun driftsync_status_name(status: Int): String
    fun driftsync_error_code(error: Pointer?): Int
    fun driftsync_error_message(error: Pointer?): DsString.ByValue
    fun driftsync_error_cause(error: Pointer?): DsString.ByValue
    fun driftsync_error_free(error: Pointer?)
    fun driftsync_debug_panic(out_error: PointerByReference?): Int

    // config
    fun driftsync_config_builder_new(): Pointer?
    fun driftsync_config_builder_set_path(b: Pointer?, path: ByteArray?, len: SizeT, err: PointerByReference?): Int
    fun driftsync_config_builder_set_schema(b: Pointer?, schema: Pointer?, err: PointerByReference?): Int
    fun driftsync_config_builder_set_write_timeout_ms(b: Pointer?, ms: Long, err: PointerByReference?): Int
    fun driftsync_config_builder_set_sync(
        b: Pointer?, url: ByteArray?, urlLen: SizeT, token: ByteArray?, tokenLen: SizeT,
        realm: ByteArray?, realmLen: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_config_builder_set_client_reset_mode(b: Pointer?, mode: Int, err: PointerByReference?): Int
    fun driftsync_config_builder_set_backup_dir(b: Pointer?, path: ByteArray?, len: SizeT, err: PointerByReference?): Int
    fun driftsync_config_builder_build(b: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_config_builder_free(b: Pointer?)
    fun driftsync_config_is_synced(c: Pointer?): Byte
    fun driftsync_config_client_reset_mode(c: Pointer?, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_config_free(c: Pointer?)

    // values and objects
    fun driftsync_owned_value_get(v: Pointer?, out: DsValue?, err: PointerByReference?): Int
    fun driftsync_owned_value_free(v: Pointer?)
    fun driftsync_object_class(o: Pointer?): DsString.ByValue
    fun driftsync_object_primary_key(o: Pointer?, out: DsPk?, err: PointerByReference?): Int
    fun driftsync_object_field_count(o: Pointer?): SizeT
    fun driftsync_object_field_name(o: Pointer?, index: SizeT, outName: DsString?, outIsList: ByteByReference?, err: PointerByReference?): Int
    fun driftsync_object_get_value(o: Pointer?, prop: ByteArray?, propLen: SizeT, out: DsValue?, err: PointerByReference?): Int
    fun driftsync_object_list_len(o: Pointer?, prop: ByteArray?, propLen: SizeT, out: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_object_list_get(o: Pointer?, prop: ByteArray?, propLen: SizeT, index: SizeT, out: DsValue?, err: PointerByReference?): Int
    fun driftsync_object_free(o: Pointer?)

    // cursors
    fun driftsync_realm_cursor_new(r: Pointer?, cls: ByteArray?, clsLen: SizeT, batch: SizeT, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_cursor_next(c: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_cursor_free(c: Pointer?)

    // observers
    fun driftsync_realm_observe(r: Pointer?, cb: ObserverFn?, ud: Pointer?, free: UserDataFreeFn?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_realm_observe_class(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, cb: ObserverFn?, ud: Pointer?, free: UserDataFreeFn?,
        out: PointerByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_observe_object(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, cb: ObserverFn?, ud: Pointer?, free: UserDataFreeFn?,
        out: PointerByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_token_free(t: Pointer?)
    fun driftsync_changes_class_count(c: Pointer?): SizeT
    fun driftsync_changes_class_name(c: Pointer?, ci: SizeT, out: DsString?, err: PointerByReference?): Int
    fun driftsync_changes_counts(c: Pointer?, ci: SizeT, ins: SizeTByReference?, era: SizeTByReference?, mod: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_changes_inserted(c: Pointer?, ci: SizeT, i: SizeT, out: DsPk?, err: PointerByReference?): Int
    fun driftsync_changes_erased(c: Pointer?, ci: SizeT, i: SizeT, out: DsPk?, err: PointerByReference?): Int
    fun driftsync_changes_modified(c: Pointer?, ci: SizeT, i: SizeT, out: DsPk?, outCount: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_changes_modified_property(c: Pointer?, ci: SizeT, i: SizeT, pi: SizeT, out: DsString?, err: PointerByReference?): Int
    fun driftsync_changes_collection_count(c: Pointer?, ci: SizeT, out: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_changes_collection(
        c: Pointer?, ci: SizeT, i: SizeT, pk: DsPk?, prop: DsString?, kind: IntByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_changes_collection_len(c: Pointer?, ci: SizeT, i: SizeT, part: Int, out: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_changes_collection_index(c: Pointer?, ci: SizeT, i: SizeT, part: Int, n: SizeT, out: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_changes_collection_element(c: Pointer?, ci: SizeT, i: SizeT, part: Int, n: SizeT, out: DsValue?, err: PointerByReference?): Int
    fun driftsync_changes_collection_key(c: Pointer?, ci: SizeT, i: SizeT, part: Int, n: SizeT, out: DsString?, err: PointerByReference?): Int

    // realm
    fun driftsync_realm_open(config: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_realm_close(r: Pointer?, err: PointerByReference?): Int
    fun driftsync_realm_free(r: Pointer?)
    fun driftsync_realm_is_closed(r: Pointer?): Byte
    fun driftsync_realm_is_frozen(r: Pointer?): Byte
    fun driftsync_realm_is_in_write_transaction(r: Pointer?): Byte
    fun driftsync_realm_begin_write(r: Pointer?, err: PointerByReference?): Int
    fun driftsync_realm_commit(r: Pointer?, err: PointerByReference?): Int
    fun driftsync_realm_cancel_write(r: Pointer?, err: PointerByReference?): Int
    fun driftsync_realm_freeze(r: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_realm_create(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, fields: DsField?, n: SizeT, err: PointerByReference?): Int
    fun driftsync_realm_upsert(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, fields: DsField?, n: SizeT, err: PointerByReference?): Int
    fun driftsync_realm_erase(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, err: PointerByReference?): Int
    fun driftsync_realm_exists(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, out: ByteByReference?, err: PointerByReference?): Int
    fun driftsync_realm_get_object(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_realm_get_value(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        out: PointerByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_set_value(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_counter_add(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        delta: Long, err: PointerByReference?,
    ): Int
    fun driftsync_realm_set_add(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_set_remove(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_set_clear(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT, err: PointerByReference?): Int
    fun driftsync_realm_dict_set(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        key: ByteArray?, keyLen: SizeT, value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_dict_erase(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        key: ByteArray?, keyLen: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_realm_dict_clear(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT, err: PointerByReference?): Int
    fun driftsync_realm_mixed_set(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        path: Pointer?, pathLen: SizeT, kind: Int, value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_mixed_insert(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        path: Pointer?, pathLen: SizeT, index: SizeT, kind: Int, value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_mixed_erase(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        path: Pointer?, pathLen: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_object_mixed_get(
        o: Pointer?, prop: ByteArray?, propLen: SizeT, path: Pointer?, pathLen: SizeT,
        kind: IntByReference?, value: DsValue?, len: SizeTByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_object_mixed_key(
        o: Pointer?, prop: ByteArray?, propLen: SizeT, path: Pointer?, pathLen: SizeT, index: SizeT,
        key: DsString?, err: PointerByReference?,
    ): Int
    fun driftsync_object_field_collection(o: Pointer?, index: SizeT, out: IntByReference?, err: PointerByReference?): Int
    fun driftsync_object_dict_len(o: Pointer?, prop: ByteArray?, propLen: SizeT, out: SizeTByReference?, err: PointerByReference?): Int
    fun driftsync_object_dict_get(
        o: Pointer?, prop: ByteArray?, propLen: SizeT, index: SizeT, key: DsString?, value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_count(r: Pointer?, cls: ByteArray?, clsLen: SizeT, out: LongByReference?, err: PointerByReference?): Int
    fun driftsync_realm_list_insert(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        index: SizeT, value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_list_push(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_list_set(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        index: SizeT, value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_list_erase(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        index: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_realm_list_move(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        from: SizeT, to: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_realm_list_clear(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        err: PointerByReference?,
    ): Int
    fun driftsync_realm_list_len(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        out: SizeTByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_list_get(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, prop: ByteArray?, propLen: SizeT,
        index: SizeT, out: PointerByReference?, err: PointerByReference?,
    ): Int

    // embedded objects, addressed by a path from their top-level parent
    fun driftsync_realm_set_embedded(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT,
        fields: DsField?, n: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_realm_insert_embedded(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT,
        index: SizeT, fields: DsField?, n: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_realm_push_embedded(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT,
        fields: DsField?, n: SizeT, err: PointerByReference?,
    ): Int
    fun driftsync_realm_remove_embedded(r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT, err: PointerByReference?): Int
    fun driftsync_realm_set_embedded_value(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT,
        value: DsValue?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_get_embedded_value(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT,
        out: PointerByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_embedded_exists(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT,
        out: ByteByReference?, err: PointerByReference?,
    ): Int
    fun driftsync_realm_embedded_len(
        r: Pointer?, cls: ByteArray?, clsLen: SizeT, pk: DsPk?, path: ByteArray?, pathLen: SizeT,
        out: SizeTByReference?, err: PointerByReference?,
    ): Int

    // schema
    fun driftsync_schema_builder_new(): Pointer?
    fun driftsync_schema_builder_add_class(b: Pointer?, name: ByteArray?, nameLen: SizeT, pk: ByteArray?, pkLen: SizeT, err: PointerByReference?): Int
    fun driftsync_schema_builder_add_property(b: Pointer?, cls: ByteArray?, clsLen: SizeT, prop: DsProperty?, err: PointerByReference?): Int
    fun driftsync_schema_builder_set_counter(b: Pointer?, cls: ByteArray?, clsLen: SizeT, prop: ByteArray?, propLen: SizeT, err: PointerByReference?): Int
    fun driftsync_schema_builder_set_set(b: Pointer?, cls: ByteArray?, clsLen: SizeT, prop: ByteArray?, propLen: SizeT, err: PointerByReference?): Int
    fun driftsync_schema_builder_set_dictionary(b: Pointer?, cls: ByteArray?, clsLen: SizeT, prop: ByteArray?, propLen: SizeT, err: PointerByReference?): Int
    fun driftsync_schema_builder_set_embedded(b: Pointer?, cls: ByteArray?, clsLen: SizeT, err: PointerByReference?): Int
    fun driftsync_schema_builder_build(b: Pointer?, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_schema_builder_free(b: Pointer?)
    fun driftsync_schema_from_json(json: ByteArray?, len: SizeT, out: PointerByReference?, err: PointerByReference?): Int
    fun driftsync_schema_class_count(s: Pointer?): SizeT
    fun driftsync_schema_free(s: Pointer?)
}
