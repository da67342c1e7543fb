/* optim._adam_kernels: the Python entry points of the CPU kernels in adam_kernels.h.

   adam(...) and adamax(...) take keyword arguments only, and every tensor argument as a
   list of tensors; nothing is passed as a raw address. Before any memory is touched, each
   tensor is checked through its own Python methods (dtype, is_cpu, is_contiguous(),
   numel()) and its data pointer is read from it (data_ptr()): a missing argument, a list
   of the wrong length or a tensor of the wrong dtype, device, layout or size raises
   TypeError or ValueError naming the argument and the index. The kernels then run with the
   GIL released.

   No torch headers: tensors are reached through the Python API only, so this builds with
   any C11 compiler in about a second. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "adam_kernels.h"

/* Attribute names, interned once at import. */
static PyObject *name_dtype, *name_is_cpu, *name_is_contiguous, *name_numel, *name_data_ptr;

/* One list argument: the tensors, and the data pointers read from them. */
typedef struct {
    const char *name;
    PyObject *fast; /* PySequence_Fast of the argument */
    void **data;
} column_t;

static int fail_tensor(PyObject *type, const column_t *column, Py_ssize_t index,
                       const char *what, PyObject *item) {
    PyErr_Format(type, "%s[%zd] must be %s, got %R", column->name, index, what, item);
    return -1;
}

static int64_t call_int64(PyObject *item, PyObject *method) {
    PyObject *result = PyObject_CallMethodNoArgs(item, method);
    if (!result) return -1;
    int64_t value = PyLong_AsLongLong(result);
    Py_DECREF(result);
    return value;
}

static int attribute_is(PyObject *item, PyObject *name, PyObject *expected) {
    PyObject *value = PyObject_GetAttr(item, name);
    if (!value) {
        PyErr_Clear();
        return 0;
    }
    int same = value == expected;
    Py_DECREF(value);
    return same;
}

static int method_is_true(PyObject *item, PyObject *method) {
    PyObject *value = PyObject_CallMethodNoArgs(item, method);
    if (!value) {
        PyErr_Clear();
        return 0;
    }
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth == 1;
}

/* Checks every tensor of column against dtype and the element counts numel (filled from
   this column when fill_numel) and reads its data pointer. Returns 0, or -1 with an error. */
static int gather(column_t *column, PyObject *argument, Py_ssize_t n, PyObject *dtype,
                  const char *dtype_text, int64_t *numel, int fill_numel) {
    if (!argument) {
        PyErr_Format(PyExc_TypeError, "missing keyword argument '%s'", column->name);
        return -1;
    }
    column->fast = PySequence_Fast(argument, "");
    if (!column->fast) {
        PyErr_Format(PyExc_TypeError, "%s must be a list of tensors, got %R", column->name,
                     argument);
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(column->fast) != n) {
        PyErr_Format(PyExc_ValueError, "%s has %zd tensors, params has %zd", column->name,
                     PySequence_Fast_GET_SIZE(column->fast), n);
        return -1;
    }
    column->data = PyMem_Malloc(sizeof(void *) * (size_t)(n + 1));
    if (!column->data) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(column->fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = items[i];
        if (!attribute_is(item, name_dtype, dtype))
            return fail_tensor(PyExc_TypeError, column, i, dtype_text, item);
        if (!attribute_is(item, name_is_cpu, Py_True))
            return fail_tensor(PyExc_TypeError, column, i, "a CPU tensor", item);
        if (!method_is_true(item, name_is_contiguous))
            return fail_tensor(PyExc_ValueError, column, i, "a contiguous tensor", item);
        int64_t count = call_int64(item, name_numel);
        if (count < 0) return PyErr_Occurred() ? -1 : fail_tensor(PyExc_ValueError, column, i,
                                                                  "a tensor", item);
        if (fill_numel) {
            numel[i] = count;
        } else if (count != numel[i]) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] has %lld elements, expected %lld",
                         column->name, i, (long long)count, (long long)numel[i]);
            return -1;
        }
        PyObject *address = PyObject_CallMethodNoArgs(item, name_data_ptr);
        if (!address) return -1;
        column->data[i] = PyLong_AsVoidPtr(address);
        Py_DECREF(address);
        if (PyErr_Occurred()) return -1;
    }
    return 0;
}

static void release(column_t *columns, int count) {
    for (int c = 0; c < count; c++) {
        Py_XDECREF(columns[c].fast);
        PyMem_Free(columns[c].data);
    }
}

/* One thread per CHUNK elements in all, at most requested: a step over little data runs
   serially, without waking a thread pool. */
static int threads_for(int requested, const int64_t *numel, Py_ssize_t n) {
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) total += numel[i];
    int64_t useful = (total + CHUNK - 1) / CHUNK;
    if (requested < 1) requested = 1;
    return useful < requested ? (useful < 1 ? 1 : (int)useful) : requested;
}

/* The arguments both kernels share, parsed by parse_common. */
typedef struct {
    PyObject *dtype;
    double lr, beta1, beta2, eps, weight_decay;
    int amsgrad, maximize, decoupled_weight_decay, bias_correction, threads;
} options_t;

static int flags_of(const options_t *o) {
    return (o->amsgrad ? FLAG_AMSGRAD : 0) | (o->maximize ? FLAG_MAXIMIZE : 0) |
           (o->decoupled_weight_decay ? FLAG_DECOUPLED_WEIGHT_DECAY : 0) |
           (o->bias_correction ? FLAG_BIAS_CORRECTION : 0);
}

/* "float32" or "float64" for the torch dtype object, from its repr; NULL with an error. */
static int dtype_kind(PyObject *dtype, const char **text) {
    if (!dtype) {
        PyErr_SetString(PyExc_TypeError, "missing keyword argument 'dtype'");
        return -1;
    }
    PyObject *repr = PyObject_Repr(dtype);
    if (!repr) return -1;
    const char *utf8 = PyUnicode_AsUTF8(repr);
    int kind = -1;
    if (utf8 && strcmp(utf8, "torch.float32") == 0) kind = 32;
    if (utf8 && strcmp(utf8, "torch.float64") == 0) kind = 64;
    Py_DECREF(repr);
    if (kind < 0) {
        PyErr_Format(PyExc_TypeError, "dtype must be torch.float32 or torch.float64, got %R",
                     dtype);
        return -1;
    }
    *text = kind == 32 ? "a tensor of dtype torch.float32" : "a tensor of dtype torch.float64";
    return kind;
}

/* Gathers the tensor columns (the first is params) and the step counters; -1 on error. */
static int gather_all(column_t *columns, PyObject **arguments, int count, column_t *steps,
                      PyObject *steps_argument, PyObject *float32, const options_t *o,
                      int64_t **numel_out, Py_ssize_t *n_out) {
    const char *dtype_text;
    int kind = dtype_kind(o->dtype, &dtype_text);
    if (kind < 0) return -1;
    if (!arguments[0]) {
        PyErr_SetString(PyExc_TypeError, "missing keyword argument 'params'");
        return -1;
    }
    Py_ssize_t n = PyObject_Length(arguments[0]);
    if (n < 0) return -1;
    int64_t *numel = PyMem_Malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!numel) {
        PyErr_NoMemory();
        return -1;
    }
    *numel_out = numel;
    *n_out = n;
    for (int c = 0; c < count; c++)
        if (gather(&columns[c], arguments[c], n, o->dtype, dtype_text, numel, c == 0) < 0)
            return -1;
    int64_t *ones = PyMem_Malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!ones) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) ones[i] = 1;
    int status = gather(steps, steps_argument, n, float32,
                        "a one-element float32 CPU tensor", ones, 0);
    PyMem_Free(ones);
    return status;
}

/* torch.float32 (the dtype of the step counters), looked up once and kept. */
static PyObject *float32_dtype(void) {
    static PyObject *float32 = NULL;
    if (!float32) {
        PyObject *torch = PyImport_ImportModule("torch");
        if (!torch) return NULL;
        float32 = PyObject_GetAttrString(torch, "float32");
        Py_DECREF(torch);
    }
    return float32;
}

#define COMMON_KEYWORDS                                                                      \
    "state_steps", "dtype", "lr", "beta1", "beta2", "eps", "weight_decay", "maximize",        \
        "decoupled_weight_decay", "bias_correction", "threads"
#define COMMON_FORMAT "OOdddddpppi"
#define COMMON_TARGETS                                                                       \
    &steps_argument, &o.dtype, &o.lr, &o.beta1, &o.beta2, &o.eps, &o.weight_decay,          \
        &o.maximize, &o.decoupled_weight_decay, &o.bias_correction, &o.threads

static PyObject *run_adam(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"params", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs",
                               "amsgrad", COMMON_KEYWORDS, NULL};
    PyObject *arguments[5] = {NULL, NULL, NULL, NULL, NULL}, *steps_argument = NULL;
    options_t o = {.bias_correction = 1, .threads = 1};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOOOp" COMMON_FORMAT, keywords,
                                     &arguments[0], &arguments[1], &arguments[2],
                                     &arguments[3], &arguments[4], &o.amsgrad, COMMON_TARGETS))
        return NULL;
    column_t columns[5] = {{"params", NULL, NULL}, {"grads", NULL, NULL}, {"exp_avgs", NULL, NULL},
                           {"exp_avg_sqs", NULL, NULL},
                           {"max_exp_avg_sqs", NULL, NULL}};
    column_t steps = {"state_steps", NULL, NULL};
    int count = o.amsgrad ? 5 : 4; /* max_exp_avg_sqs is read only under amsgrad */
    int64_t *numel = NULL;
    Py_ssize_t n = 0;
    PyObject *float32 = float32_dtype();
    int status = float32 ? gather_all(columns, arguments, count, &steps, steps_argument,
                                      float32, &o, &numel, &n)
                         : -1;
    if (status == 0) {
        int kind = dtype_kind(o.dtype, &(const char *){NULL});
        int threads = threads_for(o.threads, numel, n), flags = flags_of(&o);
        void **vmax = o.amsgrad ? columns[4].data : columns[0].data; /* unread without it */
        Py_BEGIN_ALLOW_THREADS
        if (kind == 32)
            status = adam_f32(n, (float **)columns[0].data, (float **)columns[1].data,
                              (float **)columns[2].data, (float **)columns[3].data,
                              (float **)vmax, numel, (float **)steps.data, o.lr, o.beta1,
                              o.beta2, o.eps, o.weight_decay, flags, threads);
        else
            status = adam_f64(n, (double **)columns[0].data, (double **)columns[1].data,
                              (double **)columns[2].data, (double **)columns[3].data,
                              (double **)vmax, numel, (float **)steps.data, o.lr, o.beta1,
                              o.beta2, o.eps, o.weight_decay, flags, threads);
        Py_END_ALLOW_THREADS
        if (status != 0) PyErr_NoMemory();
    }
    release(columns, 5);
    release(&steps, 1);
    PyMem_Free(numel);
    if (status != 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *run_adamax(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"params", "grads", "exp_avgs", "exp_infs", COMMON_KEYWORDS,
                               NULL};
    PyObject *arguments[4] = {NULL, NULL, NULL, NULL}, *steps_argument = NULL;
    options_t o = {.bias_correction = 1, .threads = 1};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOO" COMMON_FORMAT, keywords,
                                     &arguments[0], &arguments[1], &arguments[2],
                                     &arguments[3], COMMON_TARGETS))
        return NULL;
    column_t columns[4] = {{"params", NULL, NULL}, {"grads", NULL, NULL},
                           {"exp_avgs", NULL, NULL}, {"exp_infs", NULL, NULL}};
    column_t steps = {"state_steps", NULL, NULL};
    int64_t *numel = NULL;
    Py_ssize_t n = 0;
    PyObject *float32 = float32_dtype();
    int status = float32 ? gather_all(columns, arguments, 4, &steps, steps_argument, float32,
                                      &o, &numel, &n)
                         : -1;
    if (status == 0) {
        int kind = dtype_kind(o.dtype, &(const char *){NULL});
        int threads = threads_for(o.threads, numel, n), flags = flags_of(&o);
        Py_BEGIN_ALLOW_THREADS
        if (kind == 32)
            status = adamax_f32(n, (float **)columns[0].data, (float **)columns[1].data,
                                (float **)columns[2].data, (float **)columns[3].data, numel,
                                (float **)steps.data, o.lr, o.beta1, o.beta2, o.eps,
                                o.weight_decay, flags, threads);
        else
            status = adamax_f64(n, (double **)columns[0].data, (double **)columns[1].data,
                                (double **)columns[2].data, (double **)columns[3].data, numel,
                                (float **)steps.data, o.lr, o.beta1, o.beta2, o.eps,
                                o.weight_decay, flags, threads);
        Py_END_ALLOW_THREADS
        if (status != 0) PyErr_NoMemory();
    }
    release(columns, 4);
    release(&steps, 1);
    PyMem_Free(numel);
    if (status != 0) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"adam", (PyCFunction)(void (*)(void))run_adam, METH_VARARGS | METH_KEYWORDS,
     "adam(*, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, state_steps, "
     "dtype, lr, beta1, beta2, eps, weight_decay, maximize, decoupled_weight_decay, "
     "bias_correction, threads): one Adam step in place over lists of contiguous CPU "
     "tensors of one dtype (float32 or float64); state_steps are one-element float32 "
     "tensors, incremented."},
    {"adamax", (PyCFunction)(void (*)(void))run_adamax, METH_VARARGS | METH_KEYWORDS,
     "adamax(*, params, grads, exp_avgs, exp_infs, state_steps, dtype, lr, beta1, beta2, "
     "eps, weight_decay, maximize, decoupled_weight_decay, bias_correction, threads): one "
     "AdaMax step in place, with the same conventions as adam."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "optim._adam_kernels",
    "The CPU kernels of optim's Adam and AdaMax (see optim/csrc/adam_kernels.h).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__adam_kernels(void) {
    name_dtype = PyUnicode_InternFromString("dtype");
    name_is_cpu = PyUnicode_InternFromString("is_cpu");
    name_is_contiguous = PyUnicode_InternFromString("is_contiguous");
    name_numel = PyUnicode_InternFromString("numel");
    name_data_ptr = PyUnicode_InternFromString("data_ptr");
    if (!name_dtype || !name_is_cpu || !name_is_contiguous || !name_numel || !name_data_ptr)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "CHUNK", CHUNK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
