/* layoutdb's selector as a plain C API, for applications not written in C++.
 *
 *   layoutdb_selector* s = layoutdb_open("app.db");
 *   layoutdb_plan* p = s ? layoutdb_select_file(s, "model.onnx", "input:1,3,224,224", NULL, "f32") : NULL;
 *   if (!p) fprintf(stderr, "%s\n", layoutdb_last_error());
 *   for (int i = 0; i < layoutdb_plan_subgraph_count(p); ++i)
 *     printf("%s %s\n", layoutdb_plan_unit(p, i), layoutdb_plan_layout(p, i));
 *   layoutdb_plan_free(p); layoutdb_close(s);
 *
 * Functions that fail return NULL (or -1) and leave one line in layoutdb_last_error() (per thread).
 * Strings returned are owned by the plan and live until layoutdb_plan_free. */
#ifndef LAYOUTDB_SELECTOR_C_H_
#define LAYOUTDB_SELECTOR_C_H_

#ifdef __cplusplus
extern "C" {
#endif

typedef struct layoutdb_selector layoutdb_selector;
typedef struct layoutdb_plan layoutdb_plan;

/* Opens a database read-only; NULL on failure. */
layoutdb_selector* layoutdb_open(const char* db_path);
void layoutdb_close(layoutdb_selector* s);

/* Plans a model file. `inputs`: NULL or "name:1,3,224,224;other:1,128" fixing dynamic dims; `units`:
 * NULL or "cpu,ocl:0:0"; `dtype`: NULL (f32), "f32", "bf16" or "int8". NULL on failure. */
layoutdb_plan* layoutdb_select_file(const layoutdb_selector* s, const char* model_path,
                                    const char* inputs, const char* units, const char* dtype);
void layoutdb_plan_free(layoutdb_plan* p);

int layoutdb_plan_subgraph_count(const layoutdb_plan* p);
/* Unit and layout of sub-graph i (0 <= i < count); NULL when out of range. */
const char* layoutdb_plan_unit(const layoutdb_plan* p, int i);
const char* layoutdb_plan_layout(const layoutdb_plan* p, int i);
double layoutdb_plan_subgraph_us(const layoutdb_plan* p, int i);
double layoutdb_plan_total_us(const layoutdb_plan* p);
/* The plan as JSON (schema/plan.schema.json). */
const char* layoutdb_plan_json(const layoutdb_plan* p);

/* The last failure of this thread, one line; "" when none. */
const char* layoutdb_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* LAYOUTDB_SELECTOR_C_H_ */
